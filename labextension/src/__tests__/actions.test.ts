import { RequestStatusValues } from '../contract.gen';
import { allowedActions, canReplace, statusBadge, submitBlockers } from '../logic/actions';

const meta = (title: string, statbarn: string | null) => ({
  title,
  statbarn,
  description: '',
  justification: '',
  suppression_notes: '',
  tags: []
});
const obj = (state = 'pending', title = 'T', statbarn: string | null = 'frequency') => ({
  state: state as any,
  filename: 'f.csv',
  metadata: meta(title, statbarn)
});

describe('allowedActions', () => {
  it('offers editing and submit on a complete draft', () => {
    expect(allowedActions({ status: 'DRAFT', objects: [obj()] })).toEqual([
      'add_outputs',
      'edit_metadata',
      'submit',
      'withdraw'
    ]);
  });

  it('does not offer submit on an empty or incomplete draft', () => {
    expect(allowedActions({ status: 'DRAFT', objects: [] })).not.toContain('submit');
    expect(allowedActions({ status: 'DRAFT', objects: [obj('pending', 'T', null)] })).not.toContain('submit');
  });

  it('offers replace and resubmit when changes are requested', () => {
    const a = allowedActions({ status: 'CHANGES_REQUESTED', objects: [obj('changes_requested')] });
    expect(a).toEqual(['add_outputs', 'edit_metadata', 'replace_object', 'resubmit', 'withdraw']);
  });

  it('locks the request while it is reviewed', () => {
    for (const status of ['SUBMITTED', 'AGENT_REVIEW', 'HUMAN_REVIEW', 'APPROVED'] as const) {
      expect(allowedActions({ status, objects: [obj()] })).toEqual(['withdraw']);
    }
  });

  it('offers only the download once released, nothing when rejected or withdrawn', () => {
    expect(allowedActions({ status: 'RELEASED', objects: [obj('approved')] })).toEqual(['download_release']);
    expect(allowedActions({ status: 'REJECTED', objects: [obj('rejected')] })).toEqual([]);
    expect(allowedActions({ status: 'WITHDRAWN', objects: [] })).toEqual([]);
  });

  it("follows the backend's transitions when it sends them", () => {
    // e.g. a checker looking at someone else's draft: the backend grants no transition.
    expect(allowedActions({ status: 'DRAFT', objects: [obj()], actions: [] })).toEqual([
      'add_outputs',
      'edit_metadata'
    ]);
    expect(allowedActions({ status: 'HUMAN_REVIEW', objects: [obj()], actions: ['withdraw'] })).toEqual(['withdraw']);
  });

  it('ignores superseded and withdrawn objects', () => {
    const req = { status: 'DRAFT' as const, objects: [obj('superseded', '', null), obj()] };
    expect(submitBlockers(req)).toEqual([]);
    expect(submitBlockers({ status: 'DRAFT', objects: [obj('withdrawn')] })).toEqual([
      'Add at least one output to the request.'
    ]);
  });
});

describe('submitBlockers', () => {
  it('names what is missing per object', () => {
    expect(submitBlockers({ status: 'DRAFT', objects: [obj('pending', '', null)] })).toEqual([
      'f.csv needs a title.',
      'f.csv needs a statbarn (output type).'
    ]);
  });
});

describe('canReplace', () => {
  it('only in CHANGES_REQUESTED, only current objects', () => {
    expect(canReplace({ status: 'CHANGES_REQUESTED' }, { state: 'changes_requested' })).toBe(true);
    expect(canReplace({ status: 'CHANGES_REQUESTED' }, { state: 'superseded' })).toBe(false);
    expect(canReplace({ status: 'DRAFT' }, { state: 'pending' })).toBe(false);
  });
});

describe('statusBadge', () => {
  it('labels every state and falls back for unknown ones', () => {
    expect(statusBadge('CHANGES_REQUESTED')).toEqual({ label: 'Changes requested', tone: 'warn' });
    expect(statusBadge('NEW_STATE')).toEqual({ label: 'NEW_STATE', tone: 'neutral' });
  });
});

describe('contract', () => {
  it('labels exactly the states the backend defines (generated from docs/openapi.json)', () => {
    for (const s of RequestStatusValues) {
      expect(statusBadge(s).label).not.toBe(s);
    }
    expect(RequestStatusValues).toEqual(expect.arrayContaining(['DRAFT', 'CHANGES_REQUESTED']));
  });
});
