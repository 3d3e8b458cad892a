// The Python package ships the very same core: copy the freshly built module into it.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";

const source = new URL("../build/tollgate.wasm", import.meta.url);
const targetDir = new URL("../python/tollgate/", import.meta.url);
if (!existsSync(targetDir)) mkdirSync(targetDir, { recursive: true });
copyFileSync(source, new URL("tollgate.wasm", targetDir));
