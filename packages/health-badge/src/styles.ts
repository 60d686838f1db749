import { css } from 'lit';

// :host starts from `all: initial`: nothing inherited from the host page bends the element (text-align,
// line-height, letter-spacing, font…). --keel-font sets its font (a font shorthand such as `400 1rem/1.5 Inter, sans-serif`).
export const styles = css`
  :host { all: initial; font: var(--keel-font, 1rem/1.5 system-ui, sans-serif); color: var(--keel-color-text, #1f2328); display: inline-block; }
  button {
    font: var(--keel-font, inherit); cursor: pointer; border-radius: var(--keel-radius, 8px);
    border: 1px solid currentColor; background: var(--keel-color-surface, #fff); color: var(--keel-color-text, #1f2328);
    padding: 0.25em 0.6em; display: inline-flex; gap: 0.4em; align-items: center;
  }
  button:focus-visible { outline: 2px solid var(--keel-color-accent, #0969da); outline-offset: 2px; }
  .dot { width: 0.7em; height: 0.7em; border-radius: 50%; background: currentColor; }
  .healthy { color: var(--keel-health-healthy, #1a7f37); }
  .watch { color: var(--keel-health-watch, #9a6700); }
  .at-risk { color: var(--keel-health-at-risk, #cf222e); }
  .score { color: var(--keel-color-text, #1f2328); font-weight: 600; }
  [part~='popover'] {
    position: fixed; margin: 0; inset: auto; width: min(26rem, 90vw); box-sizing: border-box; max-height: calc(100% - 16px); overflow: auto;
    font: var(--keel-font, inherit); color: var(--keel-color-text, #1f2328); background: var(--keel-color-surface, #fff);
    border: 1px solid #d0d7de; border-radius: var(--keel-radius, 8px); padding: var(--keel-space, 1rem);
    box-shadow: 0 8px 24px rgba(0, 0, 0, 0.15);
  }
  h2 { font-size: 1rem; margin: 0 0 0.5rem; }
  h3 { font-size: 0.9rem; margin: 0.75rem 0 0.25rem; }
  ul { margin: 0; padding-left: 1.1rem; font-size: 0.85rem; }
  .components { list-style: none; padding: 0; }
  .components li { padding: 0.4rem 0; border-bottom: 1px solid #eaeef2; }
  .components p { margin: 0.15rem 0 0; }
  .row { display: flex; justify-content: space-between; gap: 1rem; }
  .label { font-weight: 600; }
  .value { white-space: nowrap; font-variant-numeric: tabular-nums; }
  svg { width: 100%; height: 2.5rem; display: block; }
  polyline { fill: none; stroke: var(--keel-color-accent, #0969da); stroke-width: 2; }
  .muted { color: #57606a; font-size: 0.85rem; }
  .close { margin-top: 0.75rem; position: sticky; bottom: 0; }
  .operational { color: var(--keel-health-healthy, #1a7f37); }
  .outage { color: var(--keel-health-at-risk, #cf222e); }
  .degraded { color: var(--keel-health-watch, #9a6700); }
  [part~='indicator'] { font: var(--keel-font, inherit); font-size: 0.85rem; display: inline-flex; gap: 0.35em; align-items: center; }
  .panel {
    font: var(--keel-font, inherit); color: var(--keel-color-text, #1f2328); background: var(--keel-color-surface, #fff);
    border: 1px solid #d0d7de; border-radius: var(--keel-radius, 8px); padding: var(--keel-space, 1rem);
  }
  .panel li span { font-weight: 600; }
`;
export const hidden = css`
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;
