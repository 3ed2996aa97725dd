/**
 * The few protobuf wire-format primitives the ONNX writer needs: varints, length-delimited
 * fields and little-endian floats. Messages are built bottom-up as byte arrays.
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH = 2;

function varint(value: bigint | number): number[] {
  // Negative int64s are encoded as their two's complement, ten bytes long.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const utf8 = new TextEncoder();

/** Accumulates the fields of one message. */
export class Message {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.byteLength;
    return this;
  }

  private tag(field: number, wire: number): void {
    this.push(Uint8Array.from(varint((field << 3) | wire)));
  }

  /** An int32/int64/enum/bool field; `undefined` writes nothing. */
  int(field: number, value: number | bigint | undefined): this {
    if (value === undefined) return this;
    this.tag(field, WIRE_VARINT);
    return this.push(Uint8Array.from(varint(value)));
  }

  /** A repeated int64 field, packed. */
  packedInts(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    return this.bytes(field, Uint8Array.from(values.flatMap((v) => varint(v))));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH);
    this.push(Uint8Array.from(varint(value.byteLength)));
    return this.push(value);
  }

  string(field: number, value: string | undefined): this {
    return value === undefined ? this : this.bytes(field, utf8.encode(value));
  }

  message(field: number, value: Message): this {
    return this.bytes(field, value.finish());
  }

  /** A 32-bit float field (wire type 5). */
  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.push(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const p of this.parts) {
      out.set(p, offset);
      offset += p.byteLength;
    }
    return out;
  }
}

/** Float32 values as little-endian bytes (ONNX raw_data). */
export function float32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  return out;
}
