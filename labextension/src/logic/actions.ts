/**
 * Which actions the researcher can take on a request in its current state (SPEC §4). The
 * backend sends `actions` (its state machine's answer for this user); when present it is
 * authoritative for the state transitions, and the content actions follow the editable states.
 */
import type { ObjectOut, RequestOut, RequestStatus } from './types';

export type RequestAction =
  'add_outputs' | 'edit_metadata' | 'replace_object' | 'submit' | 'resubmit' | 'withdraw' | 'download_release';

export const EDITABLE: ReadonlySet<RequestStatus> = new Set<RequestStatus>(['DRAFT', 'CHANGES_REQUESTED']);
export const TERMINAL: ReadonlySet<RequestStatus> = new Set<RequestStatus>(['RELEASED', 'REJECTED', 'WITHDRAWN']);
/** Object states that are part of the request now (not superseded or withdrawn). */
export const CURRENT_OBJECT_STATES = new Set(['pending', 'approved', 'changes_requested', 'rejected']);

type RequestLike = Pick<RequestOut, 'status'> & {
  actions?: string[];
  objects?: Array<Pick<ObjectOut, 'state' | 'metadata' | 'filename'>>;
};

export function currentObjects<T extends Pick<ObjectOut, 'state'>>(objects: T[] | undefined): T[] {
  return (objects ?? []).filter(o => CURRENT_OBJECT_STATES.has(o.state));
}

/** Why the request cannot be submitted yet (empty: it can). */
export function submitBlockers(req: RequestLike): string[] {
  const objects = currentObjects(req.objects);
  if (objects.length === 0) {
    return ['Add at least one output to the request.'];
  }
  const out: string[] = [];
  for (const o of objects) {
    const name = o.metadata?.title || o.filename;
    if (!o.metadata?.title) {
      out.push(`${o.filename} needs a title.`);
    }
    if (!o.metadata?.statbarn) {
      out.push(`${name} needs a statbarn (output type).`);
    }
  }
  return out;
}

export function allowedActions(req: RequestLike): RequestAction[] {
  const status = req.status;
  const server = req.actions ? new Set(req.actions) : null;
  const may = (transition: 'submit' | 'resubmit' | 'withdraw', local: boolean): boolean =>
    server ? server.has(transition) : local;
  const out: RequestAction[] = [];
  if (EDITABLE.has(status)) {
    out.push('add_outputs', 'edit_metadata');
  }
  if (status === 'CHANGES_REQUESTED') {
    out.push('replace_object');
  }
  if (may('submit', status === 'DRAFT') && submitBlockers(req).length === 0) {
    out.push('submit');
  }
  if (may('resubmit', status === 'CHANGES_REQUESTED') && submitBlockers(req).length === 0) {
    out.push('resubmit');
  }
  if (may('withdraw', !TERMINAL.has(status))) {
    out.push('withdraw');
  }
  if (status === 'RELEASED') {
    out.push('download_release');
  }
  return out;
}

/** Whether one object can be replaced by a newer tagged output now. */
export function canReplace(req: RequestLike, obj: Pick<ObjectOut, 'state'>): boolean {
  return req.status === 'CHANGES_REQUESTED' && CURRENT_OBJECT_STATES.has(obj.state);
}

/** Human label and colour class for a request status. */
export function statusBadge(status: string): { label: string; tone: string } {
  const labels: Record<string, [string, string]> = {
    DRAFT: ['Draft', 'neutral'],
    SUBMITTED: ['Submitted', 'info'],
    AGENT_REVIEW: ['Automatic checks', 'info'],
    HUMAN_REVIEW: ['With output checkers', 'info'],
    CHANGES_REQUESTED: ['Changes requested', 'warn'],
    APPROVED: ['Approved', 'ok'],
    RELEASING: ['Packaging release', 'ok'],
    RELEASED: ['Released', 'ok'],
    REJECTED: ['Rejected', 'bad'],
    WITHDRAWN: ['Withdrawn', 'neutral']
  };
  const [label, tone] = labels[status] ?? [status, 'neutral'];
  return { label, tone };
}
