/**
 * What the request view shows from the backend's review data: the agent report per object,
 * checkers' public comments, and an object's version history. Shapes follow docs/openapi.json
 * (AgentReportOut, ReviewList/ReviewOut, LineageOut).
 */
import type { AgentReportOut, LineageOut, ObjectOut, ReviewOut } from '../contract.gen';
import { describeFinding, verdictStatus, type Tone } from './verdict';
import type { Finding } from './types';

interface ObjectResult {
  status?: string;
  findings?: Finding[];
}

function objectResults(report: AgentReportOut | null | undefined): Record<string, ObjectResult> {
  const objects = (report?.report as { objects?: unknown } | null | undefined)?.objects;
  if (Array.isArray(objects)) {
    // Tolerate a list form [{object_id, ...}] as well as the mapping {object id: result}.
    const out: Record<string, ObjectResult> = {};
    for (const o of objects as Array<ObjectResult & { object_id?: string }>) {
      if (o.object_id) {
        out[o.object_id] = o;
      }
    }
    return out;
  }
  return objects && typeof objects === 'object' ? (objects as Record<string, ObjectResult>) : {};
}

export function agentSummary(report: AgentReportOut | null | undefined): string | null {
  if (!report || !report.available) {
    return null;
  }
  const summary = (report.report as { summary?: unknown } | null)?.summary;
  return typeof summary === 'string' ? summary : (report.recommendation ?? null);
}

export function agentResult(
  report: AgentReportOut | null | undefined,
  objectId: string
): { tone: Tone; findings: string[] } | null {
  const r = objectResults(report)[objectId];
  if (!r) {
    return null;
  }
  return { tone: verdictStatus(r.status as any), findings: (r.findings ?? []).map(describeFinding) };
}

/** Public checker comments on one object ("decision: comment"), oldest review first. */
export function publicComments(reviews: ReviewOut[] | null | undefined, objectId: string): string[] {
  const out: string[] = [];
  for (const review of reviews ?? []) {
    for (const o of review.objects ?? []) {
      if (o.object_id === objectId && o.comment && o.visibility === 'public') {
        out.push(`${o.decision.replace('_', ' ')}: ${o.comment}`);
      }
    }
  }
  return out;
}

export function lineageObjects(lineage: LineageOut | null | undefined): ObjectOut[] {
  return (lineage?.versions ?? []).map(v => v.object).sort((a, b) => a.version - b.version);
}
