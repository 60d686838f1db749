/** What `GET /v1/tenants/:id/health` answers (the parts the badge shows). */
export interface HealthReportView {
  tenantId: string;
  score: number;
  band: 'healthy' | 'watch' | 'at-risk';
  coverage: number;
  components: {
    id: string;
    metric: string;
    value: number | null;
    rule: string;
    points: number;
    weight: number;
    contribution: number;
    included: boolean;
    missing?: string;
  }[];
  whatWouldMove: { component: string; target: number; gain: number; description: string }[];
  trend: { wow: { points: number; percent: number | null } | null; history: { day: string; score: number; band: string }[] };
}
