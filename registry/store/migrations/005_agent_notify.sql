-- Every change to an agent, its versions or its certificates is announced on the channel
-- greenlang_agents with the agent id, at commit (identical notifications of one transaction
-- are sent once). Registry processes listen and drop their cached entry
-- (registry/entry_cache.py), whoever made the change.
CREATE FUNCTION greenlang_notify_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('greenlang_agents', OLD.agent_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('greenlang_agents', NEW.agent_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER agents_notify AFTER INSERT OR UPDATE OR DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION greenlang_notify_agent();
CREATE TRIGGER agent_versions_notify AFTER INSERT OR UPDATE OR DELETE ON agent_versions
    FOR EACH ROW EXECUTE FUNCTION greenlang_notify_agent();
CREATE TRIGGER certificates_notify AFTER INSERT OR UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION greenlang_notify_agent();
