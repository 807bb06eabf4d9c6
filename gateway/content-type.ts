/** What an answer is, by its content type: the two kinds the gateway tells apart. */

/** A stream of server-sent events: read, and changed, event by event. */
export const isEventStream = (contentType: string | null | undefined) =>
  (contentType ?? '').startsWith('text/event-stream');

/**
 * A web page: no API's answer, whatever its status (a sleeping Space's page, a CDN's error page or a captive
 * portal's in place of the API), for a request and for a health check alike.
 */
export const isWebPage = (contentType: string | null | undefined) =>
  (contentType ?? '').startsWith('text/html');
