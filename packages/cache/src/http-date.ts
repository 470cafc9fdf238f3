const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
const IMF = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/
// rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/
// asctime-date: Sun Nov  6 08:49:37 1994
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/

/**
 * Parses an HTTP-date in any of the three formats RFC 9110 section 5.6.7 requires recipients
 * to accept (IMF-fixdate, rfc850, asctime), to epoch ms; `undefined` when invalid. A two-digit
 * rfc850 year more than 50 years in the future is taken in the past century, as the RFC says.
 * @param text - the field value
 * @param nowMs - the current time, for the two-digit year rule
 */
export function parseHttpDate(text: string | undefined, nowMs = Date.now()): number | undefined {
  if (text === undefined) return undefined
  const value = text.trim()
  const parts = imfParts(value) ?? rfc850Parts(value, nowMs) ?? asctimeParts(value)
  if (parts === undefined) return undefined
  const { day, month, year, time } = parts
  const monthIndex = MONTHS.indexOf(month.toLowerCase())
  const dayNumber = Number(day)
  const [h, mi, s] = time.map(Number) as [number, number, number]
  if (monthIndex < 0 || dayNumber < 1 || dayNumber > 31 || h > 23 || mi > 59 || s > 60) {
    return undefined
  }
  const ms = Date.UTC(year, monthIndex, dayNumber, h, mi, Math.min(s, 59))
  // Date.UTC rolls 31 Feb into March; reject dates that do not exist.
  if (new Date(ms).getUTCDate() !== dayNumber) return undefined
  return ms
}

interface DateParts {
  day: string
  month: string
  year: number
  time: [string, string, string]
}

function imfParts(value: string): DateParts | undefined {
  const m = IMF.exec(value)
  if (m === null) return undefined
  return {
    day: m[1] as string,
    month: m[2] as string,
    year: Number(m[3]),
    time: [m[4] as string, m[5] as string, m[6] as string],
  }
}

function rfc850Parts(value: string, nowMs: number): DateParts | undefined {
  const m = RFC850.exec(value)
  if (m === null) return undefined
  const currentYear = new Date(nowMs).getUTCFullYear()
  let year = Math.floor(currentYear / 100) * 100 + Number(m[3])
  if (year > currentYear + 50) year -= 100
  return {
    day: m[1] as string,
    month: m[2] as string,
    year,
    time: [m[4] as string, m[5] as string, m[6] as string],
  }
}

function asctimeParts(value: string): DateParts | undefined {
  const m = ASCTIME.exec(value)
  if (m === null) return undefined
  return {
    day: (m[2] as string).trim(),
    month: m[1] as string,
    year: Number(m[6]),
    time: [m[3] as string, m[4] as string, m[5] as string],
  }
}

/**
 * Formats epoch ms as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
 * @param ms - epoch ms
 */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
