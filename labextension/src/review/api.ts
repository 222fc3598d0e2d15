/** The calls the checker's views make, each one requestAPI call through the server
 * extension's proxy (/trevor/api/* → the backend's /api/v1/*). Shapes come from the contract. */
import type {
  AgentReportOut,
  LineageOut,
  ObjectSourceOut,
  PreviewOut,
  RequestOut,
  ReviewIn,
  ReviewList,
  ReviewQueue,
  ReviewSubmitted,
  UserMe
} from '../contract.gen';
import { followCursor } from '../logic/pages';
import { requestAPI, requestRaw } from '../request';

const enc = encodeURIComponent;
const obj = (rid: string, oid: string) => `api/requests/${enc(rid)}/objects/${enc(oid)}`;

export const reviewApi = {
  me: () => requestAPI<UserMe>('api/users/me'),
  /** The whole queue, every page (the badge counts it). */
  queue: () =>
    followCursor(cursor =>
      requestAPI<ReviewQueue>(
        `api/review-queue?${new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) })}`
      )
    ),
  request: (rid: string) => requestAPI<RequestOut>(`api/requests/${enc(rid)}`),
  report: (rid: string) => requestAPI<AgentReportOut>(`api/requests/${enc(rid)}/report`),
  reviews: (rid: string) => requestAPI<ReviewList>(`api/requests/${enc(rid)}/reviews`),
  submit: (rid: string, body: ReviewIn) =>
    requestAPI<ReviewSubmitted>(`api/requests/${enc(rid)}/reviews`, {
      method: 'POST',
      body: JSON.stringify(body)
    }),
  source: (rid: string, oid: string) => requestAPI<ObjectSourceOut>(`${obj(rid, oid)}/source`),
  preview: (rid: string, oid: string) => requestAPI<PreviewOut>(`${obj(rid, oid)}/preview`),
  lineage: (rid: string, oid: string, diff?: [string, string]) =>
    requestAPI<LineageOut>(`${obj(rid, oid)}/lineage` + (diff ? `?diff=${enc(diff.join(','))}` : '')),
  /** The object's bytes as text (tables and text files the view renders itself). */
  text: async (rid: string, oid: string): Promise<string> => (await requestRaw(`${obj(rid, oid)}/content`)).text(),
  contentUrl: (rid: string, oid: string) => `${obj(rid, oid)}/content`
};
