"""Operations code, apart from the domain services: backing an installation up and restoring it (:mod:`.backup`)."""
