#!/bin/busybox sh
# /init of the small initramfs of the ext4-root guest (the thrash
# scenarios): load the virtio modules, mount the root image (/dev/vda) with
# noatime, move /dev into it and switch_root to its /init. Everything that
# runs afterwards is read from the disk, so its pages can be evicted.
/bin/busybox mkdir -p /proc /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  /bin/busybox insmod /modules/$module.ko
done
for i in $(/bin/busybox seq 1 50); do [ -b /dev/vda ] && break; /bin/busybox sleep 0.1; done
if ! /bin/busybox mount -t ext4 -o noatime /dev/vda /newroot; then
  echo "E2E: cannot mount the root image /dev/vda"
  /bin/busybox poweroff -f
fi
/bin/busybox mount --move /dev /newroot/dev
/bin/busybox umount /proc
exec /bin/busybox switch_root /newroot /init
