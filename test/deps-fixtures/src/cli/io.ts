export const io = { out: [] as string[] };
