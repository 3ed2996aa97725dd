/**
 * The version of rnnlm: recorded in model artifacts and exports, shown in the OpenAPI document
 * and the start-up line. A literal, not read from package.json, so that the browser bundle and
 * the built server need no file at run time; a unit test holds it equal to package.json's.
 */
export const RNNLM_VERSION = '0.1.0';
