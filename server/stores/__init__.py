"""History stores: pick an adapter from a ``HRVCAST_STORE`` URL (see :func:`open_store`)."""
