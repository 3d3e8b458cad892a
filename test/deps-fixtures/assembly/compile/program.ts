// AssemblyScript style (extensionless imports): compile/ <-> manifest/, no-cycle-assembly.
import { Problem } from "../manifest/errors";
export function compile(): Problem { return new Problem(); }
