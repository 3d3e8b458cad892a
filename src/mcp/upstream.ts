// One upstream MCP server, through the official SDK's Client: a stdio command (spawned by the
// gateway) or a Streamable HTTP URL. Connected on demand; when it exits or drops the connection,
// calls in flight fail with a clear error, the other upstreams are unaffected, and the next use
// connects again (at most once per RETRY_MS, so a server that dies at start is not respawned in
// a loop).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { CallToolResult, Progress, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { UpstreamConfig } from "./config.js";
import type { McpLog } from "./log.js";
import { GATEWAY_INFO } from "./version.js";

/** How long a name the upstream did not list is refused without listing again. */
const MISS_TTL_MS = 5000;

/** The upstream cannot be reached (did not start, exited, refused the connection). */
export class UpstreamUnavailable extends Error {
  constructor(readonly upstream: string, message: string) {
    super(`upstream '${upstream}' is unavailable: ${message}`);
    this.name = "UpstreamUnavailable";
  }
}

const RETRY_MS = 2_000;
const CONNECT_TIMEOUT_MS = 60_000;

export interface UpstreamOptions {
  maxMessageBytes: number;
  /** The upstream said its tool list changed. */
  onToolsChanged: () => void;
}

export class Upstream {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private failure: { at: number; message: string } | null = null;
  private closed = false;

  constructor(readonly config: UpstreamConfig, private readonly log: McpLog, private readonly options: UpstreamOptions) {}

  get name(): string {
    return this.config.name;
  }

  /** The connected client: connects (again) if needed; rejects with UpstreamUnavailable. */
  connect(): Promise<Client> {
    if (this.closed) return Promise.reject(new UpstreamUnavailable(this.name, "the gateway is closing"));
    if (this.client !== null) return Promise.resolve(this.client);
    if (this.connecting !== null) return this.connecting;
    if (this.failure !== null && Date.now() - this.failure.at < RETRY_MS) return Promise.reject(new UpstreamUnavailable(this.name, this.failure.message));
    this.connecting = this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private transport(): StdioClientTransport | StreamableHTTPClientTransport {
    const c = this.config;
    if (c.kind === "http") return new StreamableHTTPClientTransport(new URL(c.url), { requestInit: { headers: c.headers } });
    // The upstream inherits the gateway's environment (an MCP client passes secrets that way).
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    return new StdioClientTransport({ command: c.command, args: c.args, env: { ...env, ...c.env }, cwd: c.cwd, stderr: "inherit", maxBufferSize: this.options.maxMessageBytes });
  }

  private async open(): Promise<Client> {
    const client = new Client(GATEWAY_INFO, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.options.onToolsChanged());
    const transport = this.transport();
    client.onclose = () => {
      if (this.client !== client) return;
      this.client = null;
      this.failure = { at: 0, message: "the connection closed (the server exited?)" };
      if (!this.closed) this.log.warn("upstream disconnected", { upstream: this.name });
    };
    client.onerror = (err) => this.log.debug("upstream transport error", { upstream: this.name, error: err.message });
    try {
      await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
    } catch (err) {
      const message = (err as Error).message;
      this.failure = { at: Date.now(), message };
      await client.close().catch(() => undefined);
      this.log.error("upstream failed to start", { upstream: this.name, error: message });
      throw new UpstreamUnavailable(this.name, message);
    }
    if (this.closed) {
      await client.close().catch(() => undefined);
      throw new UpstreamUnavailable(this.name, "the gateway is closing");
    }
    this.client = client;
    this.failure = null;
    this.log.info("upstream connected", { upstream: this.name, server: client.getServerVersion()?.name });
    return client;
  }

  /** Every tool of the upstream (all pages). */
  async listTools(): Promise<Tool[]> {
    const client = await this.connect();
    if (!client.getServerCapabilities()?.tools) {
      this.listed = new Set();
      return [];
    }
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: CONNECT_TIMEOUT_MS });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    this.listed = new Set(tools.map((t) => t.name));
    return tools;
  }

  /** The names of the tools the upstream listed last (null before its first tools/list). */
  private listed: Set<string> | null = null;

  /** The tools/list in flight for `lists` (one at a time, shared by the calls that wait for it). */
  private listing: Promise<Tool[]> | null = null;
  /** Names a listing did not have, and when: not listed again for MISS_TTL_MS. */
  private missed = new Map<string, number>();

  /**
   * Whether the upstream lists `tool`, by exactly that name: the policy decides on the name the
   * agent called, so a name the upstream does not list (`WRITE_FILE` for `write_file`, a trailing
   * space) must not reach a server that might match it loosely. Lists again when the name is not
   * in the last list (tools can appear) — once for all the calls waiting, and not again for the
   * same missing name within MISS_TTL_MS (an agent calling unknown names cannot make the
   * upstream list its tools at every call).
   */
  async lists(tool: string): Promise<boolean> {
    if (this.listed?.has(tool) === true) return true;
    const missedAt = this.missed.get(tool);
    if (missedAt !== undefined && Date.now() - missedAt < MISS_TTL_MS) return false;
    await (this.listing ??= this.listTools().finally(() => (this.listing = null)));
    if (this.listed?.has(tool) === true) return true;
    if (this.missed.size >= 1024) this.missed.clear();
    this.missed.set(tool, Date.now());
    return false;
  }

  /** Forwards one tools/call; rejects with UpstreamUnavailable or the upstream's error. */
  async callTool(tool: string, args: Record<string, unknown> | undefined, options: { signal: AbortSignal; onprogress?: (p: Progress) => void }): Promise<CallToolResult> {
    const client = await this.connect();
    try {
      return (await client.callTool({ name: tool, arguments: args }, undefined, { signal: options.signal, timeout: this.config.timeoutMs, onprogress: options.onprogress })) as CallToolResult;
    } catch (err) {
      if (this.client !== client) throw new UpstreamUnavailable(this.name, `${(err as Error).message} (the server exited or dropped the connection during the call)`);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client ?? (await this.connecting?.catch(() => null)) ?? null;
    this.client = null;
    await c?.close().catch(() => undefined);
  }
}
