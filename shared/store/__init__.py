"""shared.store.handle"""
