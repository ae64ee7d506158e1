"""Pure logic over git data: no threads, no notifications, no CLI."""
