// Long differential fuzzing: the product against the reference interpreter.
//
//   npm run fuzz                      200,000 manifests (x 20 actions each)
//   npm run fuzz -- 1000000           a million manifests
//   npm run fuzz -- 50000 --seed 7 --chunk 2000 --jobs 2
//
// Runs `npx vitest run test/property` in chunks of --chunk manifests
// (TOLLGATE_FUZZ_RUNS), each chunk with its own seed (TOLLGATE_FUZZ_SEED =
// base seed + chunk number), up to --jobs chunks at a time, and prints
// progress after each. The first failing chunk stops the run and prints its
// output and the command that reproduces it.
import { spawn } from "node:child_process";

const ACTIONS_PER_MANIFEST = 20;

function parseArgs(argv) {
  const opts = { total: 200_000, chunk: 2_000, jobs: 1, seed: Math.floor(Math.random() * 2 ** 31) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) usage(`${a} needs a whole number`);
      return v;
    };
    if (a === "--seed") opts.seed = value();
    else if (a === "--chunk") opts.chunk = Math.max(1, value());
    else if (a === "--jobs") opts.jobs = Math.max(1, value());
    else if (/^\d+$/.test(a)) opts.total = Number(a);
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

function usage(why) {
  console.error(`fuzz: ${why}\nusage: node scripts/fuzz.mjs [MANIFESTS] [--seed N] [--chunk N] [--jobs N]`);
  process.exit(2);
}

function runChunk(runs, seed) {
  return new Promise((resolve) => {
    const env = { ...process.env, TOLLGATE_FUZZ_RUNS: String(runs), TOLLGATE_FUZZ_SEED: String(seed) };
    const child = spawn("npx", ["vitest", "run", "test/property"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => resolve({ code, output }));
  });
}

const fmt = (s) => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);

const { total, chunk, jobs, seed } = parseArgs(process.argv.slice(2));
const chunks = [];
for (let done = 0, n = 0; done < total; done += chunk, n++) chunks.push({ n, runs: Math.min(chunk, total - done), seed: seed + n });

console.log(`fuzz: ${total} manifests x ${ACTIONS_PER_MANIFEST} actions, ${chunks.length} chunks, ${jobs} at a time, base seed ${seed}`);
const start = Date.now();
let finished = 0, next = 0, failed = false;

async function worker() {
  while (!failed && next < chunks.length) {
    const c = chunks[next++];
    const { code, output } = await runChunk(c.runs, c.seed);
    if (failed) return;
    if (code !== 0) {
      failed = true;
      console.log(output);
      console.log(`fuzz: chunk ${c.n} FAILED. Reproduce with:\n  TOLLGATE_FUZZ_RUNS=${c.runs} TOLLGATE_FUZZ_SEED=${c.seed} npx vitest run test/property`);
      process.exitCode = 1;
      return;
    }
    finished += c.runs;
    const elapsed = (Date.now() - start) / 1000;
    const left = (elapsed / finished) * (total - finished);
    const pct = ((100 * finished) / total).toFixed(1).padStart(5);
    console.log(`[${pct}%] ${finished}/${total} manifests, ${finished * ACTIONS_PER_MANIFEST} decisions compared, ${fmt(elapsed)} elapsed, ~${fmt(left)} left`);
  }
}

await Promise.all(Array.from({ length: Math.min(jobs, chunks.length) }, worker));
if (!failed) console.log(`fuzz: ok, ${total} manifests (${total * ACTIONS_PER_MANIFEST} decisions) in ${fmt((Date.now() - start) / 1000)}`);
