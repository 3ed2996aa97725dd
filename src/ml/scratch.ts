/**
 * Float32Arrays kept from call to call by name, grow-only: `get` hands out the first `n` floats
 * of its array. A hot loop's fresh arrays are garbage outside V8's heap, which V8 answers with
 * full collections ("external memory pressure" in --trace-gc) and the kernel with page faults.
 * What `get` returns is valid until the next `get` of the same name.
 */
export class Scratch {
  private readonly arrays = new Map<string, Float32Array>();

  get(name: string, n: number): Float32Array {
    let a = this.arrays.get(name);
    if (a === undefined || a.length < n) this.arrays.set(name, (a = new Float32Array(n)));
    return a.length === n ? a : a.subarray(0, n);
  }
}
