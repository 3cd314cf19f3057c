"""Local dev loop: the platform as processes on this machine, no cluster needed."""
