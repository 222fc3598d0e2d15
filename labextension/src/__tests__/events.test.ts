import { applyEvent, SSEParser } from '../logic/events';

const req = (id: string, status: any = 'DRAFT') => ({ id, status, title: id, objects: [] }) as any;

describe('SSEParser', () => {
  it('parses events split across chunks, with ids, types and multi-line data', () => {
    const p = new SSEParser();
    expect(p.feed('id: 7\nevent: request.sub')).toEqual([]);
    const evs = p.feed('mitted\ndata: {"a":\ndata: 1}\n\n');
    expect(evs).toEqual([{ id: '7', event: 'request.submitted', data: '{"a":\n1}' }]);
    expect(p.lastEventId).toBe('7');
  });

  it('ignores comments (heartbeats) and handles CRLF, including a split CR LF', () => {
    const p = new SSEParser();
    expect(p.feed(': keep-alive\r\n\r\ndata: x\r')).toEqual([]);
    expect(p.feed('\n\r\n')).toEqual([{ event: 'message', data: 'x', id: undefined }]);
  });

  it('keeps the last id across events and reads retry', () => {
    const p = new SSEParser();
    const evs = p.feed('id: 1\ndata: a\n\nretry: 5000\ndata: b\n\n');
    expect(evs.map(e => [e.id, e.data])).toEqual([
      ['1', 'a'],
      ['1', 'b']
    ]);
    expect(evs[1].retry).toBe(5000);
  });

  it('drops an event with no data', () => {
    expect(new SSEParser().feed('event: ping\n\n')).toEqual([]);
  });
});

describe('applyEvent', () => {
  const state = { requests: [req('r1'), req('r2', 'SUBMITTED')] };

  it('replaces a request sent in full', () => {
    const full = req('r2', 'HUMAN_REVIEW');
    const out = applyEvent(state, {
      event: 'request.updated',
      data: JSON.stringify({ request: full })
    });
    expect(out.state.requests.map(r => r.status)).toEqual(['DRAFT', 'HUMAN_REVIEW']);
    expect(out.refresh).toEqual([]);
  });

  it('adds a request it did not know', () => {
    const out = applyEvent(state, { event: 'x', data: JSON.stringify({ request: req('r3') }) });
    expect(out.state.requests.map(r => r.id)).toEqual(['r3', 'r1', 'r2']);
  });

  it('updates a bare status and asks for the details', () => {
    const out = applyEvent(state, {
      event: 'request.decided',
      data: JSON.stringify({ request_id: 'r2', status: 'CHANGES_REQUESTED' })
    });
    expect(out.state.requests[1].status).toBe('CHANGES_REQUESTED');
    expect(out.state.requests[0]).toBe(state.requests[0]);
    expect(out.refresh).toEqual(['r2']);
  });

  it('asks for an inbox refresh on deliveries and ignores junk', () => {
    expect(applyEvent(state, { event: 'delivery.ready', data: '{"object_id":"o1"}' }).refreshInbox).toBe(true);
    const junk = applyEvent(state, { event: 'message', data: 'not json' });
    expect(junk.state).toBe(state);
    expect(junk.refresh).toEqual([]);
  });
});
