/**
 * POSIX ACL xattr values (system.posix_acl_access / _default) as the kernel stores them:
 * version 2, then one 8-byte entry per (tag, permissions, id).
 */

export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_GROUP = 0x08;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;
/** The id of the entries that have none (user::, group::, mask::, other::). */
export const NO_ID = 0xffffffff;

/** An ACL xattr value from [tag, perm (rwx bits), id] entries, in the order given (the kernel wants them sorted by tag). */
export function posixAcl(entries: [number, number, number][]): Buffer {
  const out = Buffer.alloc(4 + entries.length * 8);
  out.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    out.writeUInt16LE(tag, 4 + i * 8);
    out.writeUInt16LE(perm, 6 + i * 8);
    out.writeUInt32LE(id >>> 0, 8 + i * 8);
  });
  return out;
}
