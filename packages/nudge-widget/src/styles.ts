import { css } from 'lit';

/**
 * The panel every nudge and recipe step is drawn in. Tokens: `--keel-*` (shared by every Keel
 * widget) and `--keel-nudge-*`. No inline styles in templates: positions are set through the CSSOM.
 */
export const panelStyles = css`
  :host { display: contents; }
  .panel {
    margin: 0; inset: auto; position: fixed; box-sizing: border-box; max-width: min(22rem, calc(100vw - 16px)); overflow: visible;
    font: var(--keel-font, inherit); font-size: 0.95rem; line-height: 1.45;
    color: var(--keel-color-text, #1f2328); background: var(--keel-nudge-surface, var(--keel-color-surface, #fff));
    border: 1px solid var(--keel-nudge-border, #d0d7de); border-radius: var(--keel-radius, 8px); padding: var(--keel-space, 1rem);
    box-shadow: var(--keel-nudge-shadow, 0 8px 24px rgba(0, 0, 0, 0.18));
  }
  /* Never taller than the viewport (anchored ones: than the room beside the anchor, set by
     surface.ts): the text scrolls inside, ✕ stays in the corner, the actions stay below it. */
  .panel { max-height: calc(100% - 16px); }
  .panel:popover-open, dialog.panel[open] { display: flex; flex-direction: column; }
  .scroll, .actions { overflow: auto; margin: -3px; padding: 3px; }
  .scroll { flex: 0 1 auto; min-height: 2em; }
  .panel.banner { inset: 0 0 auto 0; max-width: none; width: 100%; border-radius: 0; border-width: 0 0 1px; }
  .panel.centered { inset: 0; margin: auto; height: fit-content; }
  dialog.panel { inset: 0; margin: auto; }
  dialog::backdrop { background: var(--keel-nudge-backdrop, rgba(0, 0, 0, 0.35)); }
  .arrow {
    position: absolute; width: 10px; height: 10px; background: inherit; transform: rotate(45deg);
    border: inherit; border-width: 0 1px 1px 0; pointer-events: none;
  }
  [data-placement^='bottom'] .arrow { border-width: 1px 0 0 1px; }
  [data-placement^='left'] .arrow { border-width: 1px 1px 0 0; }
  [data-placement^='right'] .arrow { border-width: 0 0 1px 1px; }
  h2 { font-size: 1rem; margin: 0 1.75rem 0.4rem 0; }
  .body > :first-child { margin-top: 0; }
  .body > :last-child { margin-bottom: 0; }
  .body code { font-size: 0.9em; background: rgba(127, 127, 127, 0.15); padding: 0 0.25em; border-radius: 3px; }
  .body a { color: var(--keel-color-accent, #0969da); }
  .actions { display: flex; gap: 0.5rem; margin-top: calc(0.75rem - 3px); flex: 0 0.001 auto; min-height: 0; flex-wrap: wrap; align-items: center; }
  button, a.button {
    font: inherit; cursor: pointer; border-radius: calc(var(--keel-radius, 8px) / 2); padding: 0.3em 0.75em;
    border: 1px solid var(--keel-color-accent, #0969da); background: var(--keel-color-accent, #0969da);
    color: var(--keel-color-on-accent, #fff); text-decoration: none;
  }
  button.secondary { background: transparent; color: var(--keel-color-accent, #0969da); }
  .close {
    position: absolute; top: 0.35rem; right: 0.35rem; background: transparent; color: inherit; border: none;
    padding: 0.2em 0.45em; line-height: 1;
  }
  button:focus-visible, a:focus-visible, h2:focus-visible { outline: 2px solid var(--keel-color-accent, #0969da); outline-offset: 2px; }
  h2:focus:not(:focus-visible) { outline: none; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  @media (prefers-reduced-motion: no-preference) {
    .panel:popover-open, dialog.panel[open] { animation: keel-in 140ms ease-out; }
  }
  @keyframes keel-in { from { opacity: 0; transform: translateY(4px); } }
`;
