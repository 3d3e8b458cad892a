// Obeys every rule: the console importing the console.
export const view = 1;
