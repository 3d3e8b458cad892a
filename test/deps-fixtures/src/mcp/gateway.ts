// An integration importing the command line: integrations-are-leaves.
import { io } from "../cli/io.js";
export const gateway = io;
