// Sending one message to every worker in turn and waiting for each one's answer (a policy or a
// shadow policy to compile): one worker at a time, because compiling a large policy blocks a
// worker's event loop for a while (hundreds of ms for 1,000 rules) and the others keep serving
// meanwhile. A worker that exits, or does not answer within 30 s, is passed over.

import type { Worker } from "node:cluster";
import type { ToWorker } from "./ipc.js";
import { connectedWorkers, sendTo } from "./workers.js";

const ANSWER_TIMEOUT_MS = 30_000;

export class WorkerRollout {
  private readonly waiting = new Map<number, { worker: number; answered: (error?: string) => void }>();
  private nextId = 1;

  /** Sends `message(id)` to each connected worker in turn; the errors the workers answered. */
  async toEach(message: (id: number) => ToWorker): Promise<string[]> {
    const id = this.nextId++;
    const errors: string[] = [];
    for (const w of connectedWorkers()) {
      if (!w.isConnected()) continue;
      await new Promise<void>((resolve) => {
        const passOver = () => {
          if (this.waiting.delete(id)) resolve();
        };
        const timer = setTimeout(passOver, ANSWER_TIMEOUT_MS);
        w.once("exit", passOver);
        this.waiting.set(id, {
          worker: w.id,
          answered: (error) => {
            clearTimeout(timer);
            w.off("exit", passOver);
            if (error) errors.push(error);
            resolve();
          },
        });
        sendTo(w, message(id));
      });
    }
    return errors;
  }

  /** A worker's answer to message `id` (ignored unless it is the one awaited from that worker). */
  onAnswer(w: Worker, id: number, error?: string): void {
    const awaited = this.waiting.get(id);
    if (awaited === undefined || awaited.worker !== w.id) return;
    this.waiting.delete(id);
    awaited.answered(error);
  }
}
