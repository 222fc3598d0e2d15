/**
 * The checker's review form as a draft: per-object decisions with a comment and its
 * visibility, an overall decision and summary. Drafts are kept in JupyterLab's state database
 * under a key per request and revision, so a live reload or closing the view loses nothing;
 * a draft read back is checked (the database holds whatever an older version wrote).
 */
import {
  DecisionValues,
  VisibilityValues,
  type Decision,
  type ObjectDecisionIn,
  type ReviewIn,
  type Visibility
} from '../contract.gen';

export interface ObjectDraft {
  decision: Decision | null;
  comment: string;
  visibility: Visibility;
}

export interface Draft {
  rid: string;
  revision: number;
  objects: Record<string, ObjectDraft>;
  /** null: follow the per-object decisions (see suggestedOverall). */
  overall: Decision | null;
  summary: string;
}

export const DRAFT_PREFIX = 'jupyter-trevor:review-draft:';

export function draftKey(rid: string, revision: number): string {
  return `${DRAFT_PREFIX}${rid}:${revision}`;
}

export function emptyDraft(rid: string, revision: number): Draft {
  return { rid, revision, objects: {}, overall: null, summary: '' };
}

export function objectDraft(draft: Draft, oid: string): ObjectDraft {
  return draft.objects[oid] ?? { decision: null, comment: '', visibility: 'public' };
}

export function updateObject(draft: Draft, oid: string, change: Partial<ObjectDraft>): Draft {
  return { ...draft, objects: { ...draft.objects, [oid]: { ...objectDraft(draft, oid), ...change } } };
}

function isDecision(v: unknown): v is Decision {
  return typeof v === 'string' && (DecisionValues as readonly string[]).includes(v);
}

function isVisibility(v: unknown): v is Visibility {
  return typeof v === 'string' && (VisibilityValues as readonly string[]).includes(v);
}

/**
 * A stored draft, if it is one for this request and revision; decisions for objects that are no
 * longer current (replaced or withdrawn since) are dropped.
 */
export function restoreDraft(raw: unknown, rid: string, revision: number, objectIds: string[]): Draft | null {
  if (typeof raw !== 'object' || raw === null) {
    return null;
  }
  const d = raw as Record<string, unknown>;
  if (d.rid !== rid || d.revision !== revision) {
    return null;
  }
  const out = emptyDraft(rid, revision);
  const objects = typeof d.objects === 'object' && d.objects !== null ? (d.objects as Record<string, unknown>) : {};
  for (const oid of objectIds) {
    const o = objects[oid] as Record<string, unknown> | undefined;
    if (!o || typeof o !== 'object') {
      continue;
    }
    out.objects[oid] = {
      decision: isDecision(o.decision) ? o.decision : null,
      comment: typeof o.comment === 'string' ? o.comment : '',
      visibility: isVisibility(o.visibility) ? o.visibility : 'public'
    };
  }
  out.overall = isDecision(d.overall) ? d.overall : null;
  out.summary = typeof d.summary === 'string' ? d.summary : '';
  return out;
}

/** The overall decision the per-object decisions point to, as the backend decides a round:
 * all approve → approve; all reject → reject; otherwise changes requested. */
export function suggestedOverall(draft: Draft, objectIds: string[]): Decision | null {
  const ds = objectIds.map(id => objectDraft(draft, id).decision);
  if (ds.length === 0 || ds.some(d => d === null)) {
    return null;
  }
  if (ds.every(d => d === 'approve')) {
    return 'approve';
  }
  if (ds.every(d => d === 'reject')) {
    return 'reject';
  }
  return 'changes_requested';
}

export interface Prepared {
  body: ReviewIn | null;
  /** What stops submission, each with the object it concerns (null: the whole review). */
  problems: Array<{ objectId: string | null; detail: string }>;
}

/** The POST body for the review, or what is missing. Mirrors the backend's rules so the
 * checker hears about them before submitting; the backend's answer still counts. */
export function prepareReview(draft: Draft, objectIds: string[]): Prepared {
  const problems: Prepared['problems'] = [];
  const objects: ObjectDecisionIn[] = [];
  for (const oid of objectIds) {
    const o = objectDraft(draft, oid);
    if (o.decision === null) {
      problems.push({ objectId: oid, detail: 'needs a decision' });
      continue;
    }
    if (o.decision !== 'approve' && !o.comment.trim()) {
      problems.push({ objectId: oid, detail: 'requesting changes or rejecting needs a comment' });
    }
    objects.push({ object_id: oid, decision: o.decision, comment: o.comment.trim(), visibility: o.visibility });
  }
  const decision = draft.overall ?? suggestedOverall(draft, objectIds);
  if (decision === null) {
    problems.push({ objectId: null, detail: 'choose an overall decision' });
  }
  if (problems.length > 0 || decision === null) {
    return { body: null, problems };
  }
  return { body: { decision, summary: draft.summary.trim(), objects }, problems };
}
