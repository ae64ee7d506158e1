"""The watch daemon: thin adapters (watcher, scheduler, notifier, control socket) around a
single event pipeline."""
