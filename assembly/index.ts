export function abi_version(): i32 { return 1; }
export function boom(x: i32): i32 { const a = new Array<i32>(x); return a[x + 1]; }
