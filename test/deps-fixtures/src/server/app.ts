// The server reaching into an integration: server-below-cli and only-cli-imports-integrations.
import { gateway } from "../mcp/gateway.js";
export const app = gateway;
