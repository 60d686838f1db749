// The evaluator: `matches` (does the rule hold?) and `evaluate` (why, clause by clause).
export { matches } from './matches.js';
export { evaluate } from './explain.js';
