/** Typed calls the panel makes; each is one requestAPI call (see request.ts). */
import type {
  AgentReportOut,
  LineageOut,
  ObjectOut,
  PreviewOut,
  ReleaseOut,
  RequestList,
  RequestOut,
  ReviewList
} from './contract.gen';
import type { InboxFile, MetadataForm, Statbarn, TaggedOutput, VersionInfo } from './logic/types';
import { requestAPI, requestRaw, trevorUrl } from './request';

const enc = encodeURIComponent;
const json = (method: string, body?: unknown): RequestInit => ({
  method,
  body: body === undefined ? undefined : JSON.stringify(body)
});

export const api = {
  version: () => requestAPI<VersionInfo>('version'),
  outputs: () => requestAPI<{ items: TaggedOutput[] }>('outputs').then(r => r.items),
  /**
   * Long poll: answers when the workspace's tagged outputs differ from `since` (a fingerprint
   * from the previous answer; '' for "now"), or after ~25 s with the same list.
   */
  watchOutputs: (since: string, signal?: AbortSignal) =>
    requestAPI<{ fingerprint: string; items: TaggedOutput[] }>(`outputs/watch?since=${enc(since)}&timeout=25`, {
      signal
    }),
  /** The released package, streamed by the server extension (a plain link: saved, not shown). */
  releaseDownloadUrl: (rid: string) => trevorUrl(`releases/${enc(rid)}/download`),
  tagOutput: (body: unknown) => requestAPI<TaggedOutput>('outputs', json('POST', body)),
  inbox: () => requestAPI<{ items: InboxFile[]; inbox_dir: string }>('inbox'),
  deliverInbox: () =>
    requestAPI<{ results: Array<{ status: string; filename: string; detail?: string }>; items: InboxFile[] }>(
      'inbox',
      json('POST')
    ),
  statbarns: () => requestAPI<{ items: Statbarn[] }>('api/statbarns').then(r => r.items),
  me: () => requestAPI<{ username: string; memberships: Array<{ project: string; role: string }> }>('api/users/me'),
  projects: () =>
    requestAPI<{ items: Array<{ id: string; name: string; my_role?: string }> }>('api/projects').then(r => r.items),
  /** One page of requests; `next_cursor` asks for the next (logic/pages.ts follows it). */
  requests: (params: Record<string, string> = {}, cursor: string | null = null) => {
    const q = new URLSearchParams({ limit: '100', ...params, ...(cursor ? { cursor } : {}) }).toString();
    return requestAPI<RequestList>(`api/requests?${q}`);
  },
  request: (rid: string) => requestAPI<RequestOut>(`api/requests/${enc(rid)}`),
  createRequest: (body: { project: string; title: string; description: string }) =>
    requestAPI<RequestOut>('api/requests', json('POST', { direction: 'egress', ...body })),
  transition: (rid: string, action: 'submit' | 'withdraw' | 'resubmit') =>
    requestAPI<RequestOut>(`api/requests/${enc(rid)}/${action}`, json('POST', {})),
  addOutput: (rid: string, outputId: string, replaces?: string) =>
    requestAPI<ObjectOut>(
      `requests/${enc(rid)}/outputs/${enc(outputId)}` + (replaces ? `?replaces=${enc(replaces)}` : ''),
      json('POST')
    ),
  setMetadata: (rid: string, oid: string, form: Partial<MetadataForm>) =>
    requestAPI<ObjectOut>(`api/requests/${enc(rid)}/objects/${enc(oid)}/metadata`, json('PUT', form)),
  lineage: (rid: string, oid: string) => requestAPI<LineageOut>(`api/requests/${enc(rid)}/objects/${enc(oid)}/lineage`),
  report: (rid: string) => requestAPI<AgentReportOut>(`api/requests/${enc(rid)}/report`),
  reviews: (rid: string) => requestAPI<ReviewList>(`api/requests/${enc(rid)}/reviews`).then(r => r.items),
  release: (rid: string) => requestAPI<ReleaseOut>(`api/requests/${enc(rid)}/release`),
  /** Sanitised HTML preview (the backend cleans it; the panel still shows it sandboxed). */
  preview: (rid: string, oid: string) => requestAPI<PreviewOut>(`api/requests/${enc(rid)}/objects/${enc(oid)}/preview`),
  /**
   * Save the object's bytes through the proxy. The blob is typed application/octet-stream so
   * the browser downloads it and never renders it in Jupyter's origin (an HTML object could
   * otherwise run script there).
   */
  download: async (rid: string, oid: string, filename: string): Promise<void> => {
    const r = await requestRaw(`api/requests/${enc(rid)}/objects/${enc(oid)}/content`);
    const blob = new Blob([await r.arrayBuffer()], { type: 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
};
