import { css } from 'lit';

// Constructable stylesheets: no inline style attribute anywhere, so a strict CSP needs nothing.
// :host starts from `all: initial`: nothing inherited from the host page bends the element (text-align,
// line-height, letter-spacing, font…). --keel-font sets its font (a font shorthand such as `400 1rem/1.5 Inter, sans-serif`).
export const styles = css`
  :host { all: initial; font: var(--keel-font, 1rem/1.5 system-ui, sans-serif); color: var(--keel-color-text, #1f2328); display: block; }
  [part~='base'] {
    font: var(--keel-checklist-font, var(--keel-font, inherit));
    color: var(--keel-color-text, #1f2328);
    background: var(--keel-checklist-surface, var(--keel-color-surface, #fff));
    border: 1px solid var(--keel-checklist-border, #d0d7de);
    border-radius: var(--keel-radius, 8px);
    padding: var(--keel-space, 1rem);
    display: flex; flex-direction: column; box-sizing: border-box; max-height: var(--keel-checklist-max-height, calc(100dvh - 16px));
  }
  [part~='header'] { display: flex; align-items: center; gap: 0.5rem; }
  [part~='title'] { font-size: 1.05em; margin: 0; flex: 1; }
  button {
    font: inherit; cursor: pointer; border-radius: calc(var(--keel-radius, 8px) / 2);
    border: 1px solid currentColor; background: transparent; color: inherit; padding: 0.2em 0.6em;
  }
  button:focus-visible, a:focus-visible { outline: 2px solid var(--keel-color-accent, #0969da); outline-offset: 2px; }
  .icon-button { border: none; padding: 0.2em 0.4em; }
  [part~='progress-label'] { margin: 0.5rem 0 0.25rem; font-size: 0.9em; }
  .completed [part~='progress-label'] { font-weight: 600; }
  .seal { color: var(--keel-color-accent, #0969da); margin-inline-end: 0.35em; }
  progress {
    width: 100%; height: 0.5rem; appearance: none; border: none; border-radius: 999px;
    background: var(--keel-checklist-track, #eaeef2); overflow: hidden; display: block;
  }
  progress::-webkit-progress-bar { background: var(--keel-checklist-track, #eaeef2); }
  progress::-webkit-progress-value { background: var(--keel-color-accent, #0969da); transition: width 300ms ease; }
  progress::-moz-progress-bar { background: var(--keel-color-accent, #0969da); }
  ol { list-style: none; margin: calc(0.75rem - 3px) -3px -3px; padding: 3px; display: grid; gap: 0.5rem; overflow: auto; min-height: 0; }
  ol[hidden] { display: none; }
  [part~='item'] { display: grid; grid-template-columns: 1.5rem 1fr auto; gap: 0.5rem; align-items: start; }
  .mark {
    width: 1.25rem; height: 1.25rem; border-radius: 50%; border: 2px solid var(--keel-checklist-mark, #8c959f);
    display: grid; place-items: center; font-size: 0.8rem; line-height: 1;
  }
  .done .mark { background: var(--keel-color-accent, #0969da); border-color: var(--keel-color-accent, #0969da); color: #fff; }
  .failed .mark { border-color: var(--keel-color-danger, #cf222e); color: var(--keel-color-danger, #cf222e); }
  .done [part~='item-title'] { text-decoration: line-through; color: var(--keel-checklist-muted, #57606a); }
  .just-done .mark { animation: keel-pop 400ms ease-out; }
  @keyframes keel-pop { 0% { transform: scale(0.4); } 70% { transform: scale(1.2); } 100% { transform: scale(1); } }
  .meta { font-size: 0.85em; color: var(--keel-checklist-muted, #57606a); display: flex; gap: 0.5rem; flex-wrap: wrap; }
  .overdue { color: var(--keel-color-danger, #cf222e); font-weight: 600; }
  [part~='recovery'] { border-color: var(--keel-color-danger, #cf222e); color: var(--keel-color-danger, #cf222e); }
  .visually-hidden {
    position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap;
  }
  @media (prefers-reduced-motion: reduce) {
    .just-done .mark { animation: none; }
    progress::-webkit-progress-value { transition: none; }
  }
`;
