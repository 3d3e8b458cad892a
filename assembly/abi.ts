// Constants shared with every host: generated from abi/constants.json by scripts/gen-abi.mjs
// (`npm run build`) into abi.generated.ts, which is build output; docs/abi.md is their
// specification. Edit abi/constants.json, never the generated file.

export * from "./abi.generated";
