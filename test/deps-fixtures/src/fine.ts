// Obeys every rule: the engine importing the engine.
import { store } from "./state/store.js";
export const fine = store;
