// The config the health-badge package's browser tests publish to their (shared) test server.
export const SHARED_CONFIG = {
  version: 1,
  product: 'acme',
  health: {
    bands: { healthy: 70, watch: 40 },
    weights: 'sum-to-100',
    components: [
      { id: 'errors', label: 'Errors in the app', metric: 'errors_per_session_7d', weight: 60, points: { steps: [[0.1, 100]], otherwise: 0 } },
      { id: 'support', metric: 'tickets_per_active_user_30d', weight: 40, points: { steps: [[0.1, 100]], otherwise: 0 } },
    ],
  },
  status: {
    components: [
      { id: 'api', name: 'API' },
      { id: 'imports', name: { en: 'Data imports' } },
    ],
  },
};
