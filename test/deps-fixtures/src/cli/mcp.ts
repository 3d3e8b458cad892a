// The CLI importing an integration: allowed.
import { gateway } from "../mcp/gateway.js";
export const mcp = gateway;
