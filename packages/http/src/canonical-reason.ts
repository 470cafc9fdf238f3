// RFC 9110 §15 plus 103 (RFC 8297), 425 (RFC 8470), 428, 429, 431, 511 (RFC 6585) and 451
// (RFC 7725). Indexed by status; holes are unknown statuses.
const REASONS: (string | undefined)[] = []
const LIST: [number, string][] = [
  [100, 'Continue'],
  [101, 'Switching Protocols'],
  [103, 'Early Hints'],
  [200, 'OK'],
  [201, 'Created'],
  [202, 'Accepted'],
  [203, 'Non-Authoritative Information'],
  [204, 'No Content'],
  [205, 'Reset Content'],
  [206, 'Partial Content'],
  [300, 'Multiple Choices'],
  [301, 'Moved Permanently'],
  [302, 'Found'],
  [303, 'See Other'],
  [304, 'Not Modified'],
  [305, 'Use Proxy'],
  [307, 'Temporary Redirect'],
  [308, 'Permanent Redirect'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [402, 'Payment Required'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [406, 'Not Acceptable'],
  [407, 'Proxy Authentication Required'],
  [408, 'Request Timeout'],
  [409, 'Conflict'],
  [410, 'Gone'],
  [411, 'Length Required'],
  [412, 'Precondition Failed'],
  [413, 'Content Too Large'],
  [414, 'URI Too Long'],
  [415, 'Unsupported Media Type'],
  [416, 'Range Not Satisfiable'],
  [417, 'Expectation Failed'],
  [421, 'Misdirected Request'],
  [422, 'Unprocessable Content'],
  [425, 'Too Early'],
  [426, 'Upgrade Required'],
  [428, 'Precondition Required'],
  [429, 'Too Many Requests'],
  [431, 'Request Header Fields Too Large'],
  [451, 'Unavailable For Legal Reasons'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Timeout'],
  [505, 'HTTP Version Not Supported'],
  [511, 'Network Authentication Required'],
]
for (let i = 0; i < 600; i++) REASONS.push(undefined)
for (const [status, reason] of LIST) REASONS[status] = reason

/**
 * The standard reason phrase for a status code (`200` gives `'OK'`), from RFC 9110 plus 103,
 * 425, 428, 429, 431, 451 and 511; `undefined` for any other status.
 * @param status - the status code
 */
export function canonicalReason(status: number): string | undefined {
  return REASONS[status]
}
