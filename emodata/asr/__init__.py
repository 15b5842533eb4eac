"""Speech recognition backends behind one interface (see ``base.AsrBackend``)."""
