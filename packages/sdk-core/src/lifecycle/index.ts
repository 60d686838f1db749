export { advance, allows, nextTransition, replay, toXState, type LifecycleModel, type LifecycleState, type Transition } from './machine.js';
