// The gate reaching up into the server: gate-below-server.
import { app } from "../server/app.js";
export const gate = app;
