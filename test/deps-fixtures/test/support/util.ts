export function util(): number { return 2; }
