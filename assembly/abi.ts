// Constants shared with every host; docs/abi.md is their specification.

export const ABI_VERSION: i32 = 1;

// Value-entry tags in an input record.
export const TAG_ABSENT: u8 = 0;
export const TAG_NULL: u8 = 1;
export const TAG_FALSE: u8 = 2;
export const TAG_TRUE: u8 = 3;
export const TAG_NUMBER: u8 = 4;
export const TAG_STRING: u8 = 5;
export const TAG_ARRAY: u8 = 6;
export const TAG_OBJECT: u8 = 7;

export const ENTRY_SIZE: i32 = 16;
export const RECORD_HEADER: i32 = 8;
export const RESULT_SIZE: i32 = 8;

// Record status / result error codes.
export const ERR_NONE: i32 = 0;
export const ERR_TOO_LARGE: i32 = 3;
export const ERR_MALFORMED: i32 = 5;
export const MAX_KNOWN_STATUS: i32 = 7;

// Decision codes in a result.
export const DECISION_ALLOW: u8 = 0;
export const DECISION_DENY: u8 = 1;
export const DECISION_ESCALATE: u8 = 2;

export const FLAG_UNDETERMINED: u8 = 1;
export const FLAG_ERROR: u8 = 2;

// Limits (spec section 1 and 5).
export const MAX_DATA_BYTES: i32 = 1 << 20;
export const MAX_RESULTS_PER_CALL: i32 = 4096;
export const MAX_RULES: i32 = 10000;
export const MAX_CONDITION_DEPTH: i32 = 64;
export const MAX_PATTERN_CHARS: i32 = 4096;
export const MAX_LIST_ITEMS: i32 = 100000;
export const MAX_PATH_SEGMENTS: i32 = 16;
export const MAX_REASON_CHARS: i32 = 1024;
export const MAX_NAME_CHARS: i32 = 128;
export const MAX_DURATION_MS: f64 = 7 * 24 * 3600 * 1000;
