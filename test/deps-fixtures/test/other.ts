export function other(): number { return 1; }
