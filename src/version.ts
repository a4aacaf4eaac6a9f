/** The efsbak release, recorded in job records and recovery points. */
export const VERSION = "0.1.0";
