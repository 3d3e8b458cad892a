// The constants and texts of the server's HTTP API, in one place: app.ts and the route plugins
// (routes/) import from this module only. A limit the core and the hosts share comes from the
// one source (abi/constants.json, generated into src/abi.generated.ts).

import { MAX_MANIFEST_BYTES } from "../abi.generated.js";

/** The `error.code` of each HTTP status the server answers (a route may use a more specific one). */
export const STATUS_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  409: "conflict",
  411: "length_required",
  413: "payload_too_large",
  414: "uri_too_long",
  415: "unsupported_media_type",
  422: "invalid_policy",
  429: "too_many_requests",
  431: "headers_too_large",
  503: "unavailable",
};

/** The content types of a policy body (PUT /v1/policy, the only route that reads them). */
export const YAML_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"];

/** The body limit of PUT /v1/policy: the largest manifest (every other route: `body-limit`). */
export const MAX_POLICY_BYTES = MAX_MANIFEST_BYTES;

/** What PUT /v1/policy takes (its 400 and 415 messages). */
export const POLICY_BODY = `the body must be the policy YAML (Content-Type: ${YAML_TYPES[0]})`;

/** The longest path parameter (an approval id); longer → 414. */
export const MAX_PARAM_LENGTH = 200;
