// Authoring (server and CLI): parse, validate and explain config documents; the JSON Schema.
export { checkReferences, formatProblems, parseConfigText, validateConfig, validateConfigText, type Problem, type Validation } from './validate.js';
export { ConfigSchema, type KeelConfig } from '../schema/document.js';
export { CONFIG_SCHEMA_ID, configJsonSchema } from './json-schema.js';
export { REPAIR_PREFIX, repairNudge, servedConfig } from './repairs.js';
