"""HTTP plumbing shared by every feature: the API object, pagination, the request pipeline."""
