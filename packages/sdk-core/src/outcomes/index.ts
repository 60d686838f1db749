export { holdoutBucket, inHoldout } from './holdout.js';
export { newcombeDifference, wilson, Z95 } from './interval.js';
