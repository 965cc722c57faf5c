#!/usr/bin/env bash
# Runs ner-tag's AMX kernels on an emulated Sapphire Rapids: Bochs (bochs-emu/Bochs 783b58fd6,
# `--enable-amx`, cpu model sapphire_rapids) patched with bochs-amx.patch — XFD (CPUID.(0xD,1)
# EAX[4], IA32_XFD/XFD_ERR, #NM on AMX instructions while armed: Linux enables AMX only with XFD)
# and four fixes of Bochs' own AMX bugs found here (tdpbusd/tdpbssd/tdpbsud read signed bytes as
# unsigned; XSAVE wrote TILECFG's rows and colsb swapped, so tiles were lost at every context
# switch; tile data saved only 8 of 16 rows and reported "in use" inverted; the tile-use tracker
# was not initialised) — booting Debian's 6.12 kernel (bookworm-backports) with a busybox
# initramfs whose /init (guest-init) runs a static ner-tag: int8 on AMX vs VNNI byte-identical,
# bf16 on AMX vs AVX512-BF16, and prints each `--stats` kernels line. ~2 min a boot once built.
#
# Not in CI (needs the Bochs source, Debian packages and ~25 min to build everything). Usage:
#   scripts/amx-bochs/run.sh WORKDIR      (WORKDIR is created; re-runs reuse what it holds)
# Needs: the Bochs source (the library tool `fetch github:bochs-emu/Bochs`, or a checkout in
# $BOCHS_GIT), apt packages isolinux syslinux-common xorriso cpio vgabios, and from apt
# `busybox-static` and `linux-image-6.1*-cloud-amd64` of bookworm-backports (6.12; Debian 6.1
# hangs early under Bochs whatever the CPU model).
set -euo pipefail
W=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
git_dir=${BOCHS_GIT:-/work/.mirror/bochs-emu+Bochs/repo}
if [ ! -x "$W/bochs/bochs" ]; then
  rm -rf "$W/bochs" && mkdir -p "$W/src"
  # (the OVMF firmware blobs are absent from the mirror, and not needed)
  git --git-dir="$git_dir" archive 783b58fd6 bochs ':(exclude)bochs/bios/OVMF*' | tar -x -C "$W/src"
  (cd "$W/src" && patch -p1 < "$here/bochs-amx.patch")
  mv "$W/src/bochs" "$W/bochs"
  (cd "$W/bochs" && ./configure -q --with-nogui --enable-x86-64 --enable-cpu-level=6 --enable-avx \
     --enable-evex --enable-amx --enable-all-optimizations --disable-plugins --enable-pci \
     --enable-cdrom --enable-smp=no && make -j"$(nproc)" -s)
fi
if [ ! -x "$W/ner-tag" ]; then
  (cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$W/target" \
     cargo build --release --locked --target x86_64-unknown-linux-gnu)
  strip -o "$W/ner-tag" "$W/target/x86_64-unknown-linux-gnu/release/ner-tag"
fi
if [ ! -e "$W/debs/busybox" ] || [ -z "$(ls "$W"/debs/vmlinuz-* 2>/dev/null)" ]; then
  mkdir -p "$W/debs/x" && (cd "$W/debs" && apt-get download busybox-static >/dev/null &&
    apt-get download -t bookworm-backports 'linux-image-6.12*-cloud-amd64' >/dev/null 2>&1 ||
    echo "fetch linux-image-6.12*-cloud-amd64 (bookworm-backports) into $W/debs by hand" >&2)
  for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$W/debs/x"; done
  cp "$W/debs/x/bin/busybox" "$W/debs/busybox"
  cp "$W"/debs/x/boot/vmlinuz-* "$W/debs/"
fi
rm -rf "$W/rootfs" "$W/iso" && mkdir -p "$W"/rootfs/{bin,proc,sys,dev,tmp} "$W/iso/isolinux"
cp "$W/debs/busybox" "$W/rootfs/bin/busybox" && ln -s busybox "$W/rootfs/bin/sh"
install -m 755 "$here/guest-init" "$W/rootfs/init"
cp "$here/in.txt" "$W/rootfs/in.txt" && cp "$W/ner-tag" "$W/rootfs/ner-tag"
(cd "$W/rootfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$W/iso/isolinux/initrd.gz")
cp "$(ls "$W"/debs/vmlinuz-* | head -1)" "$W/iso/isolinux/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$W/iso/isolinux/"
cat > "$W/iso/isolinux/isolinux.cfg" <<'CFG'
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd.gz console=ttyS0,115200 rdinit=/init loglevel=4 nokaslr tsc=reliable lsm=capability lapic=notscdeadline mitigations=off nogbpages
CFG
xorriso -as mkisofs -quiet -o "$W/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table "$W/iso"
cat > "$W/bochsrc" <<RC
romimage: file=$W/bochs/bios/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=sapphire_rapids, count=1, ips=200000000, reset_on_triple_fault=1
memory: guest=2048, host=2048
pci: enabled=1, chipset=i440fx
boot: cdrom
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$W/boot.iso, status=inserted
display_library: nogui
clock: sync=none, time0=local
com1: enabled=1, mode=file, dev=$W/serial.txt
log: $W/bochs.log
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
mouse: enabled=0
RC
rm -f "$W/serial.txt"
timeout 900 "$W/bochs/bochs" -q -f "$W/bochsrc" > "$W/bochs.out" 2>&1 || true
sed -n '/GUEST START/,$p' "$W/serial.txt"
grep -q '^INT8-IDENTICAL' "$W/serial.txt" && grep -q 'int8 amx (tdpbusd tiles)' "$W/serial.txt" &&
  grep -q 'bf16 amx (tdpbf16ps tiles)' "$W/serial.txt" && echo "amx-bochs: OK" || { echo "amx-bochs: FAILED"; exit 1; }
